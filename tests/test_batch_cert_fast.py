"""The batched certificate's direct path (``BatchCertifier._certify_fast``, a DRN's layout).

References: the same certifier on its general path (``_fast`` switched off) with
``scales="bound"`` and with ``scales="exact"`` (the latter checked against the scalar
certificate in test_batch_certificate).  On random DRNs (layer sizes, gains, input
layouts: ``cat(x, -x)`` interleaved or in halves, unpaired, repeated and zero pixels)
and batches mixing exact answers, perturbed copies and random voltages: the same
verdicts; tolerances of passing samples never looser than the exact ones; failing
samples with the exact certificate's fields; diode currents as the general path's.
Column-group claims (the solver's fold) are used only when they hold: a wrong claim
changes nothing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from resbench.batch import Network
from resbench.batch._certificate_kernels import (
    columns_to_rows,
    fast_scan,
    nonzero_columns_product,
)
from resbench.batch.certificate import BatchCertifier
from resbench.circuit import Branches, make_circuit
from resbench.generate import drn

SETTINGS = dict(deadline=None, database=None)
TOLS = ("feas_tol", "kcl_tol", "comp_tol")
FIELDS = ("feasibility", "kcl", "complementarity", *TOLS)


def _values(rng: np.random.Generator, nb: int, m: int, layout: str, gain: float) -> np.ndarray:
    """Input values [nb, 2m] of one layout, pixels with zeros and repeats."""
    x = rng.random((nb, m))
    x[:, rng.random(m) < 0.3] = 0.0  # dark pixels (zero in every sample)
    if m > 2:
        x[:, 1] = x[:, 0]  # a repeated pixel
    x *= gain
    if layout == "interleaved":
        out = np.empty((nb, 2 * m))
        out[:, 0::2], out[:, 1::2] = x, -x
    elif layout == "halves":
        out = np.hstack([x, -x])
    else:  # unpaired
        out = np.hstack([x, rng.random((nb, m)) * gain])
    return out


def _cases(seed: int, nb: int, layers, layout: str, gain: float):
    rng = np.random.default_rng(seed)
    c = drn(layers, seed=seed % 1000, input_gain=gain)
    names = list(c.vsources.names)
    vals = _values(rng, nb, len(names) // 2, layout, gain)
    net = Network(c, inputs=names)
    v = net.solve_batch(vals, certify=False).voltages.copy()
    pinned = set(c.vsources.a.tolist())
    free = [k for k in range(1, c.n_nodes) if k not in pinned]
    for b in range(1, nb, 3):  # perturbed copies: some fail, some pass by a hair
        k = free[int(rng.integers(len(free)))]
        v[b, k] += 10.0 ** rng.uniform(-14, -1) * rng.choice([-1.0, 1.0])
    if nb > 4:  # one sample of random voltages (its inputs kept: feasible sources)
        v[4, free] = rng.normal(size=len(free))
    pat = net._fold_pattern
    exact_rows = np.array([b % 3 != 1 and b != 4 for b in range(nb)])
    return c, names, vals, v, (None if pat is None else pat.groups), exact_rows


def _general(bc: BatchCertifier, *args, **kw):
    fast, bc._fast = bc._fast, None
    try:
        return bc.certify(*args, **kw)
    finally:
        bc._fast = fast


def _raw(bc: BatchCertifier, fast: bool, *args, **kw):
    """The certificate before any sample is certified again with exact scales."""
    saved_fast, saved = bc._fast, BatchCertifier._recertify
    if not fast:
        bc._fast = None
    BatchCertifier._recertify = lambda *a, **k: None
    try:
        return bc.certify(*args, **kw)
    finally:
        bc._fast, BatchCertifier._recertify = saved_fast, saved


def assert_fast_agrees(bc, v, vals, groups, exact_rows) -> None:
    assert bc._fast is not None
    # before the exact scales' second look: the solver's exact answers pass on the
    # direct path itself (its product and floors are right, not rescued by the second
    # look) wherever they pass the general path's bounds (an answer whose currents are
    # all tiny can fall outside both: the lower bounds of its scales are below the
    # exact ones, and the second look certifies it), and so does every sample the
    # general path's bounds pass where the direct path's floors are no lower (the same
    # residuals)
    kw = dict(currents=False, scales="bound")
    raw = _raw(bc, True, v, vals, column_groups=groups, **kw)
    raw_gen = _raw(bc, False, v, vals, **kw)
    assert raw.ok[exact_rows & raw_gen.ok].all(), raw.ok
    higher = np.all([getattr(raw, t) >= getattr(raw_gen, t) for t in TOLS], axis=0)
    assert raw.ok[raw_gen.ok & higher].all()
    assert np.all(
        np.abs(raw.kcl - raw_gen.kcl)[raw.ok & raw_gen.ok]
        <= 1e-3 * raw_gen.kcl_tol[raw.ok & raw_gen.ok]
    )
    got = bc.certify(v, vals, currents=False, scales="bound", column_groups=groups)
    gen = _general(bc, v, vals, currents=False, scales="bound")
    exact = _general(bc, v, vals, currents=False, scales="exact")
    assert np.array_equal(got.ok, exact.ok) and np.array_equal(got.ok, gen.ok)
    for name in TOLS:
        g, e = getattr(got, name), getattr(exact, name)
        assert np.all(g <= e * (1 + 1e-12) + 1e-300), name
    fail = ~exact.ok
    for name in FIELDS:
        g, e = getattr(got, name)[fail], getattr(exact, name)[fail]
        assert np.allclose(g, e, rtol=1e-9, atol=1e-12 * np.max(np.abs(e), initial=0.0)), name
    ok = got.ok
    # the same bounds as the general path (same floors, another summation order)
    for name in TOLS:
        assert np.allclose(getattr(got, name)[ok], getattr(gen, name)[ok], rtol=1e-9), name
    i_tol = np.max(exact.kcl_tol, initial=0.0) * 2 + 1e-300
    assert np.allclose(got.diode_current, gen.diode_current, rtol=1e-9, atol=i_tol)
    assert got.vsource_current is None
    # with the voltage sources' currents: the direct path still (its own product of
    # the held nodes' rows), the same verdicts and currents as the general path's
    with_i = bc.certify(v, vals, currents=True, scales="bound", column_groups=groups)
    gen_i = _general(bc, v, vals, currents=True, scales="bound")
    assert np.array_equal(with_i.ok, got.ok)
    for name in FIELDS:
        assert np.array_equal(getattr(with_i, name), getattr(got, name)), name
    assert np.allclose(with_i.diode_current, gen_i.diode_current, rtol=1e-9, atol=i_tol)
    assert with_i.vsource_current.shape == gen_i.vsource_current.shape
    assert np.allclose(with_i.vsource_current, gen_i.vsource_current, rtol=1e-9, atol=i_tol)


@settings(max_examples=examples(40), **SETTINGS)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(8, 6, 3), (12, 10, 6, 2), (20, 5, 4), (6, 40, 3)]),
    st.sampled_from(["interleaved", "halves", "unpaired"]),
    st.sampled_from([1.0, 4.0]),
    st.sampled_from([1, 3, 6, 24]),  # (1, 3: the product by nonzero values, FEW_SAMPLES)
)
def test_random_drns_direct_path(seed, layers, layout, gain, nb) -> None:
    c, names, vals, v, groups, exact_rows = _cases(seed, nb, layers, layout, gain)
    bc = BatchCertifier(c, inputs=names)
    assert_fast_agrees(bc, v, vals, groups, exact_rows)
    assert_fast_agrees(bc, v, vals, None, exact_rows)
    # a claim that does not hold (another grouping) changes nothing
    rng = np.random.default_rng(seed)
    nv = len(names)
    wrong = (rng.integers(0, nv, nv).astype(np.int64), rng.choice([-1.0, 0.0, 1.0], nv))
    assert_fast_agrees(bc, v, vals, wrong, exact_rows)


@settings(max_examples=examples(10), **SETTINGS)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(6, 40, 3), (10, 64, 8)]),
    st.sampled_from(["interleaved", "halves", "unpaired"]),
)
def test_direct_path_with_split_products(seed, layers, layout) -> None:
    """Every product "large" (SMALL_PRODUCT = 0): split over numba's threads
    (resbench.threads.split_matmul), the direct path agrees with the general and exact
    certificates as with one BLAS call."""
    import resbench.batch.certificate as cert_mod
    from resbench import threads

    c, names, vals, v, groups, exact_rows = _cases(seed, 24, layers, layout, 1.0)
    bc = BatchCertifier(c, inputs=names)
    saved = cert_mod.SMALL_PRODUCT
    cert_mod.SMALL_PRODUCT = 0
    try:
        with threads.limit_threads(2):
            assert_fast_agrees(bc, v, vals, groups, exact_rows)
    finally:
        cert_mod.SMALL_PRODUCT = saved


def test_the_direct_path_is_taken_and_uses_the_solver_groups(monkeypatch) -> None:
    c, names, vals, v, groups, _ = _cases(5, 24, (16, 12, 4), "interleaved", 2.0)
    assert groups is not None
    bc = BatchCertifier(c, inputs=names)
    seen, layouts = [], []
    original, original_held = type(bc._fast).folded_map, type(bc._fast).held_map

    def spy(self, rep, sig):
        seen.append(rep.copy())
        return original(self, rep, sig)

    def spy_held(self, layout):
        layouts.append(layout)
        return original_held(self, layout)

    monkeypatch.setattr(type(bc._fast), "folded_map", spy)
    monkeypatch.setattr(type(bc._fast), "held_map", spy_held)
    good = Network(c, inputs=names).solve_batch(vals, certify=False).voltages
    cert = bc.certify(good, vals, currents=False, scales="bound", column_groups=groups)
    assert cert.ok.all() and len(seen) == 1 and np.array_equal(seen[0], groups[0])
    assert layouts == []  # the claim held: its folded map, its columns gathered
    # a grouping that one sample breaks is not used (the pairs are, then)
    bad = good.copy()
    a0 = int(c.vsources.a[0])
    rep = groups[0]
    j = int(np.flatnonzero(rep != np.arange(rep.size))[0])  # a column folded into another
    bad[3, a0 + j] += 0.5
    cert = bc.certify(bad, vals, currents=False, scales="bound", column_groups=groups)
    assert len(layouts) == 1  # the held map (pairs, or every column) instead
    assert not cert.ok[3] and cert.ok[np.arange(24) != 3].all()


def test_claims_that_are_not_claims_about_these_inputs_are_ignored() -> None:
    """A column-group claim of the wrong length, dtype or range is no claim: the same
    certificate as without one (and the cached maps of a good claim are not reused for
    it); a good claim given again hits the cache with its own map and columns."""
    c, names, vals, v, groups, _ = _cases(5, 24, (16, 12, 4), "interleaved", 2.0)
    assert groups is not None
    rep, sig = groups
    bc = BatchCertifier(c, inputs=names)
    kw = dict(currents=False, scales="bound")
    plain = bc.certify(v, vals, **kw)
    good = bc.certify(v, vals, column_groups=groups, **kw)
    nv = rep.size
    for claim in (
        (rep[:-1], sig[:-1]),  # one entry short
        (np.r_[rep[:-1], nv], sig),  # a representative past the held nodes
        (np.r_[-1, rep[1:]], sig),  # a negative one
        (rep.astype(np.float64), sig),  # not integers: converted, then used as given
    ):
        got = bc.certify(v, vals, column_groups=claim, **kw)
        for f in ("ok", *FIELDS):
            assert np.array_equal(getattr(got, f), getattr(plain, f)) or np.array_equal(
                getattr(got, f), getattr(good, f)
            ), f
        assert np.array_equal(got.ok, plain.ok)
    hit = bc._fast.folded_map(rep, sig)
    assert hit is bc._fast.folded_map(rep.copy(), sig.copy())  # cached by content
    m, cols, take = hit
    assert np.array_equal(take, np.r_[bc._fast.a0 + cols, bc._fast.extra])
    assert bc._fast.folded_map(rep[:-1], sig[:-1]) is None
    assert bc._fast.folded_map(np.r_[rep[:-1], nv], sig) is None


def _direct_path_calls(monkeypatch) -> list[tuple[bool, bool]]:
    """Records every call of the direct path: (currents asked for, the path taken)."""
    calls: list[tuple[bool, bool]] = []
    original = BatchCertifier._certify_fast

    def spy(self, *args):
        out = original(self, *args)
        calls.append((bool(args[-1]) if len(args) > 4 else False, out is not None))
        return out

    monkeypatch.setattr(BatchCertifier, "_certify_fast", spy)
    return calls


def test_network_solve_batch_certifies_on_the_direct_path(monkeypatch) -> None:
    c, names, vals, _, _, _ = _cases(2, 20, (10, 8, 3), "interleaved", 1.0)
    net = Network(c, inputs=names)
    calls = _direct_path_calls(monkeypatch)
    res = net.solve_batch(vals, certify=True)
    assert calls == [(False, True)] and res.certificate.ok.all() and res.ok.all()


def test_currents_take_the_direct_path_too(monkeypatch) -> None:
    """Network.solve (certified: a Solution carries the diodes' currents, and the
    sources', made on first read) and solve_batch(currents=True) certify on the direct
    path, one sample by its nonzero voltages, a batch by one product; the currents are
    the single solver's."""
    import resbench
    from resbench.batch.network import with_values

    c, names, vals, _, _, _ = _cases(3, 6, (10, 8, 3), "halves", 1.0)
    net = Network(c, inputs=names)
    calls = _direct_path_calls(monkeypatch)
    sol = net.solve(vals[0])
    # the certificate gives the diodes' currents; the sources' come on first read
    assert calls == [(False, True)] and sol.is_deferred("vsource_current")
    res = net.solve_batch(vals, currents=True)
    assert calls == [(False, True), (True, True)]
    assert sol.vsource_current is sol.certificate.vsource_current
    assert calls == [(False, True), (True, True)]  # (the direct path's product alone)
    assert not sol.is_deferred("vsource_current")
    assert sol.certificate.ok and res.certificate.ok.all()
    for b in range(vals.shape[0]):
        ref = resbench.solve(with_values(c, names, vals[b]))
        atol = 2 * ref.certificate.kcl_tol
        got = [(res.vsource_current[b], res.diode_current[b])]
        if b == 0:
            got.append((sol.vsource_current, sol.diode_current))
        for vs, dio in got:
            assert np.allclose(vs, ref.vsource_current, rtol=1e-9, atol=atol)
            assert np.allclose(dio, ref.diode_current, rtol=1e-9, atol=atol)


def test_non_finite_samples_take_the_general_path() -> None:
    c, names, vals, v, groups, _ = _cases(3, 8, (8, 6, 3), "interleaved", 1.0)
    bc = BatchCertifier(c, inputs=names)
    v = v.copy()
    v[2, -1] = np.nan
    got = bc.certify(v, vals, currents=False, scales="bound", column_groups=groups)
    gen = _general(bc, v, vals, currents=False, scales="bound")
    assert not got.ok[2] and np.isinf(got.kcl[2])
    assert np.array_equal(got.ok, gen.ok)


def _small(**extra):
    """A two-input network: n1, n2 held by sources, n3 free with a diode to ground."""
    parts = dict(
        resistors=Branches.from_lists(["r1", "r2", "r3"], [1, 2, 3], [3, 3, 0], [1e3, 2e3, 1e3]),
        vsources=Branches.from_lists(["v1", "v2"], [1, 2], [0, 0], [1.0, -1.0]),
        diodes=Branches.from_lists(["d1"], [3], [0], [0]),
    )
    parts.update(extra)
    return make_circuit("small", ["0", "n1", "n2", "n3"], **parts)


def _with_diodes(c, rng: np.random.Generator):
    """The DRN ``c`` with more diodes: ground to a free node (reversed), a second one at
    a node that has one, and self loops (at a free node, at ground)."""
    pinned = set(c.vsources.a.tolist())
    free = np.array([k for k in range(1, c.n_nodes) if k not in pinned])
    picks = rng.choice(free, size=min(3, free.size), replace=False)
    a = [0, int(picks[-1]), int(picks[0]), 0]
    b = [int(picks[0]), 0, int(picks[0]), 0]
    extra = Branches.from_lists([f"dx{i}" for i in range(4)], a, b, [0.0] * 4)
    d = c.diodes
    diodes = Branches.from_lists(
        list(d.names) + list(extra.names),
        np.concatenate([d.a, extra.a]),
        np.concatenate([d.b, extra.b]),
        np.concatenate([d.value, extra.value]),
    )
    return dataclasses.replace(c, diodes=diodes, diode_models=list(c.diode_models) + ["d"] * 4)


@settings(max_examples=examples(15), **SETTINGS)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(8, 6, 3), (12, 10, 6, 2)]),
    st.sampled_from(["interleaved", "unpaired"]),
)
def test_direct_path_with_reversed_repeated_and_looped_diodes(seed, layers, layout) -> None:
    # fast_balance decides each diode's current in its node's pass (no zero fill):
    # reversed diodes, two at one node and self loops (no current) against the general path
    rng = np.random.default_rng(seed)
    c = _with_diodes(drn(layers, seed=seed % 1000), rng)
    names = list(c.vsources.names)
    nb = 12
    vals = _values(rng, nb, len(names) // 2, layout, 1.0)
    net = Network(c, inputs=names)
    v = net.solve_batch(vals, certify=False).voltages.copy()
    pinned = set(c.vsources.a.tolist())
    free = [k for k in range(1, c.n_nodes) if k not in pinned]
    for b in range(1, nb, 3):
        v[b, free[int(rng.integers(len(free)))]] += 10.0 ** rng.uniform(-14, -1)
    exact_rows = np.array([b % 3 != 1 for b in range(nb)])
    bc = BatchCertifier(c, inputs=names)
    assert_fast_agrees(bc, v, vals, None, exact_rows)
    got = bc.certify(v, vals, currents=False)
    loops = np.flatnonzero(c.diodes.a == c.diodes.b)
    assert loops.size == 2 and np.all(got.diode_current[:, loops] == 0.0)


def test_direct_path_needs_each_diode_at_one_kcl_row() -> None:
    c = _small(diodes=Branches.from_lists(["d1", "d2", "d3"], [3, 0, 0], [0, 3, 0], [0] * 3))
    bc = BatchCertifier(c)
    assert bc._fast is not None
    bc._bidx = bc._bidx[:-1]  # (a diode dropped from its node's list: not taken)
    bc._bptr = np.minimum(bc._bptr, bc._bidx.size)
    assert bc._setup_fast(bc._conductances()[0]) is None


def test_where_the_direct_path_applies() -> None:
    assert BatchCertifier(_small())._fast is not None
    assert BatchCertifier(_small(), gmin=1e-9)._fast is None
    isrc = Branches.from_lists(["i1"], [0], [3], [1e-3])
    assert BatchCertifier(_small(isources=isrc))._fast is None
    both = Branches.from_lists(["r1", "r2", "r3", "r4"], [1, 2, 3, 1], [3, 3, 0, 2], [1e3] * 4)
    assert BatchCertifier(_small(resistors=both))._fast is None  # held to held
    held_d = Branches.from_lists(["d1"], [1], [0], [0])
    assert BatchCertifier(_small(diodes=held_d))._fast is None  # a diode on a held node
    floating = Branches.from_lists(["v1", "v2"], [1, 2], [0, 3], [1.0, -1.0])
    assert BatchCertifier(_small(vsources=floating))._fast is None


@pytest.mark.parametrize("nb", [1, 2, 4])
def test_nonzero_columns_product_is_the_product(nb: int) -> None:
    """``M[q : q + rows] @ x.T`` from M's transpose, each sample's zero values skipped
    (zeros in some samples only, in every sample, a sample of zeros, -0.0); rows
    outside the slab untouched."""
    rng = np.random.default_rng(nb)
    m = rng.normal(size=(37, 23))
    x = rng.normal(size=(nb, 23))
    x[:, 3] = 0.0
    x[0, rng.random(23) < 0.5] = 0.0
    x[-1, 5] = -0.0
    if nb > 2:
        x[1] = 0.0
    mt = np.ascontiguousarray(m.T)
    for q, rows in ((0, 37), (5, 11), (30, 7)):
        out = np.full((rows + 2, nb), np.nan)
        nonzero_columns_product(mt, x, q, out[1 : rows + 1])
        assert np.allclose(out[1 : rows + 1], m[q : q + rows] @ x.T, rtol=1e-13, atol=1e-13)
        assert np.isnan(out[0]).all() and np.isnan(out[-1]).all()


@pytest.mark.parametrize("shape", [(1, 5), (33, 70), (64, 64), (7, 100)])
def test_columns_to_rows_is_a_transpose(shape) -> None:
    rng = np.random.default_rng(shape[1])
    v = rng.normal(size=shape)
    out = np.full((shape[1], shape[0]), np.nan)
    columns_to_rows(v, 3, shape[1] - 1, out)
    assert np.array_equal(out[3 : shape[1] - 1], v[:, 3 : shape[1] - 1].T)
    assert np.isnan(out[:3]).all() and np.isnan(out[shape[1] - 1 :]).all()


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_fast_scan_pairs_groups_and_bounds(parts: int) -> None:
    rng = np.random.default_rng(parts)
    nb, m = 9, 6
    x = rng.random((nb, m))
    pin = np.empty((nb, 2 * m))
    pin[:, 0::2], pin[:, 1::2] = x, -x
    v = np.zeros((nb, 2 * m + 3))
    v[:, 1 : 2 * m + 1] = pin
    v[:, 2 * m + 1 :] = rng.uniform(-0.2, 0.2, (nb, 2))
    d = rng.uniform(1.0, 2.0, 2 * m)
    g = 1.0 / rng.uniform(1.0, 3.0, 2 * m)
    rep = np.repeat(np.arange(0, 2 * m, 2), 2).astype(np.int64)
    sig = np.tile([1.0, -1.0], m)
    none = (np.zeros(0, dtype=np.int64), np.zeros(0))
    no_take = (np.zeros(0, dtype=np.int64), np.zeros((nb, 0)))
    ratios = np.array([d.min(), d.max(), (d * g).min(), (d * g).max()])
    take = np.array([1, 3, 2 * m + 2, 0, 3], dtype=np.int64)  # any columns, repeats too
    xg = np.full((nb, take.size), np.nan)
    out = fast_scan(v, pin.copy(), 1, ratios, rep, sig, parts, take, xg)
    assert np.array_equal(xg, v[:, take])  # gathered in the same pass
    not_finite, big, big_x, src, f1, f2, inter, halves, grouped = out
    assert not not_finite.any()
    # the claim held: the pairs were not checked (not needed), reported False
    assert grouped and not inter and not halves
    assert fast_scan(v, pin.copy(), 1, ratios, *none, parts, *no_take)[6]  # no claim
    assert np.array_equal(src, np.zeros(nb))
    assert np.allclose(big, np.abs(v).max(axis=1)) and np.allclose(big_x, np.abs(pin).max(axis=1))
    lo = np.minimum(v[:, [0, -2, -1]].min(axis=1), 0.0)
    hi = v[:, [0, -2, -1]].max(axis=1)
    dist = np.maximum(np.maximum(pin - hi[:, None], lo[:, None] - pin), 0.0)
    # lower bounds of the held rows' largest range bound (d_min x the largest
    # distance), within the spread of d
    assert np.all(f1 <= (d * dist).max(axis=1)) and np.all(f2 <= (d * dist * g).max(axis=1))
    assert np.allclose(f1, d.min() * dist.max(axis=1), rtol=1e-9)
    assert np.allclose(f2, (d * g).min() * dist.max(axis=1), rtol=1e-9)
    assert np.all(f1 > 0)
    # the total at a held node is at least its floor (every neighbour in [lo, hi])
    broken = v.copy()
    broken[nb - 1, 2] += 1e-12  # one sample breaks its pair (and the group claim)
    out = fast_scan(broken, pin.copy(), 1, ratios, rep, sig, parts, *no_take)
    assert not out[6] and not out[8] and out[3][nb - 1] == pytest.approx(1e-12, rel=1e-3)
    assert not fast_scan(v, pin.copy(), 1, ratios, *none, parts, *no_take)[8]
    # a claim that breaks in one sample only (first, middle or last: any run): the
    # pairs of every sample are checked, those before the break too
    rep2 = rep.copy()
    rep2[2:4] = 0  # columns 2, 3 claimed as +-column 0 (pixel 1 = pixel 0)
    for bad in (0, nb // 2, nb - 1):
        x2 = x.copy()
        x2[:, 1] = x2[:, 0]
        x2[bad, 1] += 0.5
        p2 = np.empty((nb, 2 * m))
        p2[:, 0::2], p2[:, 1::2] = x2, -x2
        v2 = v.copy()
        v2[:, 1 : 2 * m + 1] = p2
        out = fast_scan(v2, p2.copy(), 1, ratios, rep2, sig, parts, *no_take)
        assert out[6] and not out[7] and not out[8], bad
        v2[nb - 1 - bad, 4] += 1e-9  # ... and a pair broken elsewhere
        out = fast_scan(v2, p2.copy(), 1, ratios, rep2, sig, parts, *no_take)
        assert not out[6] and not out[8], bad
    halves_v = v.copy()
    halves_v[:, 1 : 2 * m + 1] = np.hstack([x, -x])
    out = fast_scan(halves_v, np.hstack([x, -x]), 1, ratios, *none, parts, *no_take)
    assert out[7] and not out[6]


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("where", ["ground", "held", "free", "value"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fast_scan_flags_exactly_the_samples_not_finite(parts, where, bad) -> None:
    """A NaN or inf anywhere in a sample's voltages (ground, a held node, a free node)
    or its sources' values flags that sample, and only it; huge finite values (whose
    sum would overflow) flag nothing."""
    rng = np.random.default_rng(11)
    nb, m = 7, 5
    pin = rng.normal(size=(nb, 2 * m))
    v = np.zeros((nb, 2 * m + 4))
    v[:, 1 : 2 * m + 1] = pin
    v[:, 2 * m + 1 :] = rng.normal(size=(nb, 3))
    ratios = np.array([1.0, 2.0, 0.5, 1.0])
    none = (np.zeros(0, dtype=np.int64), np.zeros(0))
    no_take = (np.zeros(0, dtype=np.int64), np.zeros((nb, 0)))
    huge = v.copy()
    huge[:, 1:] = 1e308
    out = fast_scan(huge, np.full((nb, 2 * m), 1e308), 1, ratios, *none, parts, *no_take)
    assert not out[0].any()
    for b in (0, 3, nb - 1):
        v2, vals = v.copy(), pin.copy()
        col = {"ground": 0, "held": 1 + (b % (2 * m)), "free": 2 * m + 1 + b % 3}.get(where)
        if where == "value":
            vals[b, b % (2 * m)] = bad
        else:
            v2[b, col] = bad
        out = fast_scan(v2, vals, 1, ratios, *none, parts, *no_take)
        assert np.array_equal(out[0], np.arange(nb) == b), (where, b)


def test_network_certificate_of_voltages_that_are_not_finite() -> None:
    """Every sample asked for: the certifier's own pass fails a sample whose voltages
    are not finite (no pass of the Network's own); a spread subset leaves it
    unchecked."""
    c, names, vals, v, _, _ = _cases(6, 12, (8, 6, 3), "interleaved", 1.0)
    net = Network(c, inputs=names)
    good = net.solve_batch(vals, certify=False).voltages.copy()
    good[5, -1] = np.inf
    cert, _, _ = net._certify(good, vals, True, 1e-9, False)
    assert cert.checked.all() and not cert.ok[5] and np.isinf(cert.kcl[5])
    assert cert.ok[np.arange(12) != 5].all()
    cert, _, _ = net._certify(good, vals, 12 - 1, 1e-9, False)  # 11 of 12 spread
    assert not cert.checked[5] and np.isnan(cert.kcl[5])
    assert cert.ok[cert.checked].all() and cert.checked.sum() >= 10


def test_small_batches_certify_on_one_thread(monkeypatch) -> None:
    # below SCAN_PARALLEL voltages the direct path's kernels run with numba on one
    # thread (no parallel region to wake workers for), and the count is restored
    import resbench.batch.certificate as cert_mod
    from resbench.threads import numba_thread_count

    seen = []
    real = cert_mod.fast_scan

    def spy(*args):
        seen.append(numba_thread_count()[0]())
        return real(*args)

    monkeypatch.setattr(cert_mod, "fast_scan", spy)
    c, names, vals, v, groups, _ = _cases(3, 6, (8, 6, 3), "interleaved", 1.0)
    bc = BatchCertifier(c, inputs=names)
    before = numba_thread_count()[0]()
    assert v.size < cert_mod.SCAN_PARALLEL
    small = bc.certify(v, vals, currents=False, scales="bound", column_groups=groups)
    assert seen == [1] and numba_thread_count()[0]() == before
    # a batch above the threshold keeps every thread numba runs
    reps = -(-cert_mod.SCAN_PARALLEL // v.size)
    big = bc.certify(
        np.tile(v, (reps, 1)), np.tile(vals, (reps, 1)), currents=False, scales="bound"
    )
    assert seen[1:] == [before] and numba_thread_count()[0]() == before
    assert np.array_equal(big.ok, np.tile(small.ok, reps))


def test_nodes_in_another_order_take_the_direct_path(monkeypatch) -> None:
    """A DRN whose input nodes are not numbered one after the other (as a netlist file
    numbers nodes: by first mention) is certified on its nodes renumbered
    (held_first): the direct path, with the same verdicts, fields and currents as the
    same circuit in the generator's order, bit for bit where the node order does not
    enter the sums and to round-off where it does."""
    from resbench.batch.certificate import held_first
    from resbench.circuit import renumbered

    c, names, vals, v, groups, exact_rows = _cases(7, 12, (10, 8, 3), "halves", 1.0)
    rng = np.random.default_rng(4)
    order = np.r_[0, 1 + rng.permutation(c.n_nodes - 1)]
    shuffled = renumbered(c, order)
    assert held_first(c) is None and held_first(shuffled) is not None
    v_sh = v[:, order]  # the same voltages, the shuffled circuit's columns
    ref = BatchCertifier(c, inputs=names)
    bc = BatchCertifier(shuffled, inputs=names)
    assert bc._fast is not None
    calls = _direct_path_calls(monkeypatch)
    for currents in (False, True):
        kw = dict(currents=currents, scales="bound", column_groups=groups)
        want = ref.certify(v, vals, **kw)
        got = bc.certify(v_sh, vals, **kw)
        assert np.array_equal(got.ok, want.ok) and got.ok[exact_rows].all()
        for name in FIELDS:
            assert np.allclose(getattr(got, name), getattr(want, name), rtol=1e-9), name
        i_tol = 2 * np.max(want.kcl_tol) + 1e-300
        assert np.allclose(got.diode_current, want.diode_current, rtol=1e-9, atol=i_tol)
        if currents:
            assert np.allclose(got.vsource_current, want.vsource_current, rtol=1e-9, atol=i_tol)
    assert calls == [(False, True), (False, True), (True, True), (True, True)]


def test_renumbered_circuits() -> None:
    """renumbered moves every element's terminals with its nodes; ground stays first;
    an order that is not one is an error."""
    from resbench.circuit import renumbered
    from resbench.errors import CircuitError

    c = drn([4, 3, 2], seed=1, bias=True)
    order = np.r_[0, np.arange(c.n_nodes - 1, 0, -1)]
    r = renumbered(c, order)
    assert r.nodes == [c.nodes[k] for k in order]
    for kind in ("resistors", "diodes", "vsources", "isources"):
        a, b = getattr(c, kind), getattr(r, kind)
        assert [r.nodes[k] for k in b.a] == [c.nodes[k] for k in a.a]
        assert [r.nodes[k] for k in b.b] == [c.nodes[k] for k in a.b]
        assert np.array_equal(a.value, b.value) and list(a.names) == list(b.names)
    assert renumbered(r, np.argsort(order)).equals(c)
    for bad in (order[::-1], order[:-1], np.r_[0, 0, order[2:]]):
        with pytest.raises(CircuitError):
            renumbered(c, bad)


def test_the_bundled_drn_netlist_is_certified_on_the_direct_path() -> None:
    """netlists/drn_xs.cir numbers its nodes by first mention (inputs and hidden nodes
    interleaved): its certifier renumbers them and takes the direct path."""
    from pathlib import Path

    from resbench import read_netlist

    path = Path(__file__).resolve().parents[1] / "netlists" / "drn_xs.cir"
    c = read_netlist(path)
    bc = BatchCertifier(c, inputs=list(c.vsources.names))
    assert bc._perm is not None and bc._fast is not None


@settings(max_examples=examples(20), **SETTINGS)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(8, 6, 3), (6, 40, 3), (12, 10, 6, 2)]),  # (6, 40, 3): extra columns
    st.sampled_from(["interleaved", "halves", "unpaired"]),
    st.sampled_from([1, 2, 4]),
)
def test_few_samples_in_one_kernel_match_the_batch_passes(seed, layers, layout, nb) -> None:
    """A few samples (<= FEW_SAMPLES) are certified by one kernel (few_balance: the
    transposes, the gathers, the held product by nonzero values, the other couplings
    as one CSR, the floors, the balance); the same samples through the batch's
    passes (FEW_SAMPLES = 0: BLAS products, the coupling's dense blocks) give the same
    verdicts and fields up to the summation order, and the same currents."""
    import resbench.batch.certificate as cert_mod

    c, names, vals, v, groups, _ = _cases(seed, 6, layers, layout, 1.0)
    v, vals = v[:nb], vals[:nb]
    bc = BatchCertifier(c, inputs=names)
    calls = []
    real = cert_mod.few_balance

    def spy(*args):
        calls.append(args[0].shape[0])
        return real(*args)

    kw = dict(scales="bound", currents=True)
    cert_mod.few_balance = spy
    try:
        few = _raw(bc, True, v, vals, **kw)
        saved = cert_mod.FEW_SAMPLES
        cert_mod.FEW_SAMPLES = 0
        try:
            batch = _raw(bc, True, v, vals, **kw)
        finally:
            cert_mod.FEW_SAMPLES = saved
    finally:
        cert_mod.few_balance = real
    assert calls == [nb]  # the few samples' kernel, once; the batch passes without it
    assert np.array_equal(few.ok, batch.ok)
    for name in TOLS:
        assert np.allclose(getattr(few, name), getattr(batch, name), rtol=1e-9), name
    for name in ("feasibility", "complementarity"):
        assert np.allclose(getattr(few, name), getattr(batch, name), rtol=1e-9, atol=0), name
    assert np.all(np.abs(few.kcl - batch.kcl) <= 1e-3 * batch.kcl_tol)
    i_tol = np.max(batch.kcl_tol) * 2
    assert np.allclose(few.diode_current, batch.diode_current, rtol=1e-9, atol=i_tol)
    # (the sources' currents have their own few-sample product: another order too)
    assert np.allclose(few.vsource_current, batch.vsource_current, rtol=1e-9, atol=i_tol)
