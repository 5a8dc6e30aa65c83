"""The fold's one-pass check of a known grouping (resbench.batch._kernels.fold_check)
and its use by Network._folded_scan: accepted exactly when the grouping is the one the
full grouping (scan_columns + group_columns) finds, and a batch's answer never depends
on which batches came before."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch._kernels import fold_check, group_columns, scan_columns
from resbench.batch.network import _FoldPattern
from resbench.bench.paper import export_paper_params
from resbench.generate import drn


def _pixels(rng: np.random.Generator, B: int, m: int) -> np.ndarray:
    """Blocky images: m pixels, each a copy of one of m // 3 source values (resampled
    digits' equal neighbours), some always dark."""
    src = rng.random((B, m // 3)) * (rng.random((B, m // 3)) < 0.6)
    cols = np.arange(m) // 3
    x = src[:, cols]
    x[:, : m // 6] = 0.0  # a dark border
    return x


def _values(x: np.ndarray, layout: str = "halves") -> np.ndarray:
    """A DRN's inputs: cat(x, -x) (halves, the paper's order) or x0, -x0, x1, -x1, ...
    (interleaved, resbench.generate.drn's order)."""
    if layout == "halves":
        return np.concatenate([x, -x], axis=1)
    v = np.empty((x.shape[0], 2 * x.shape[1]))
    v[:, 0::2] = x
    v[:, 1::2] = -x
    return v


def _negated(layout: str, m: int, i: int) -> int:
    """The column of -x[i] in a layout of m pixels."""
    return m + i if layout == "halves" else 2 * i + 1


def _full(S: np.ndarray):
    r = Network._probe_vector(S.shape[0])
    sign, keys, vmax = scan_columns(S, r, np.arange(S.shape[1]), True)
    ok, nz, group, first, SF = group_columns(S, sign, keys)
    assert ok
    return _FoldPattern.of(nz, group, first, sign), SF, vmax


def _check(pat: _FoldPattern, S: np.ndarray, dtype=np.float64):
    """fold_check on S as Network._folded_scan passes it (C order: the declared,
    precompiled signatures; no other specialisation compiled and cached by a test)."""
    r = Network._probe_vector(S.shape[0])
    out = np.empty((S.shape[0], pat.check[-2].shape[0]), dtype=dtype)
    return fold_check(np.ascontiguousarray(S), r, np.arange(S.shape[1]), True, *pat.check, out)


@pytest.mark.parametrize("layout", ["halves", "interleaved"])
def test_fold_check_accepts_its_own_grouping_with_the_same_products(layout: str) -> None:
    rng = np.random.default_rng(0)
    S = _values(_pixels(rng, 40, 60), layout)
    pat, SF, vmax = _full(S)
    # the -x half is checked against the x half only where the layout puts it there
    # (h = 0: no such loop); interleaved pairs are neighbours
    assert pat.check[1] == (60 if layout == "halves" else 0)
    ok, vm, ST = _check(pat, S)
    assert ok
    assert np.array_equal(vm, vmax)
    assert np.array_equal(ST, SF)
    # in float32 (the float32 product's columns): the same values rounded as astype does
    ok32, vm32, ST32 = _check(pat, S, np.float32)
    assert ok32 and np.array_equal(vm32, vmax)
    assert ST32.dtype == np.float32 and np.array_equal(ST32, SF.astype(np.float32))
    # another batch of the same structure: the same grouping, accepted; its products
    # equal those of its own full grouping
    S2 = _values(_pixels(np.random.default_rng(1), 70, 60), layout)
    pat2, SF2, vmax2 = _full(S2)
    assert pat2.key == pat.key
    ok, vm, ST = _check(pat, S2)
    assert ok and np.array_equal(vm, vmax2)
    assert np.array_equal(np.abs(ST), np.abs(SF2))


@pytest.mark.parametrize("layout", ["halves", "interleaved"])
@pytest.mark.parametrize(
    "change",
    [
        "dark_pixel_lit",
        "neighbour_differs",
        "groups_equal",
        "group_dark",
        "nan",
        "inf",
        "pair_differs",
    ],
)
def test_fold_check_rejects_what_the_full_grouping_would_group_otherwise(
    change: str, layout: str
) -> None:
    rng = np.random.default_rng(2)
    x = _pixels(rng, 30, 60)
    pat, _, _ = _full(_values(x, layout))
    y = x.copy()
    if change == "dark_pixel_lit":
        y[7, 2] = 0.5
    elif change == "neighbour_differs":
        y[3, 31] = y[3, 31] + 0.25
    elif change == "groups_equal":  # two source values equal in every sample
        y[:, 33:36] = y[:, 30:33]
    elif change == "group_dark":
        y[:, 30:33] = 0.0
    elif change == "nan":
        y[5, 40] = np.nan
    elif change == "inf":
        y[5, 40:43] = np.inf
    S = _values(y, layout)
    if change == "pair_differs":  # -x no longer the negated x in one sample
        S[4, _negated(layout, 60, 35)] -= 0.125
    ok, _, _ = _check(pat, S)
    assert not ok
    if change not in ("nan", "inf"):
        assert _full(S)[0].key != pat.key


def test_answers_do_not_depend_on_earlier_batches() -> None:
    """Every batch of a sequence (stable patterns, changing ones) solves bit for bit as
    on a fresh Network, and the answers are certified."""
    c = drn((60, 12, 4), seed=3, input_gain=1.0)
    names = export_paper_params(c).input_names  # cat(x, -x)
    net = Network(c, inputs=names)
    rng = np.random.default_rng(4)
    half = len(names) // 2

    def batch(B: int, seed: int) -> np.ndarray:
        return _values(_pixels(np.random.default_rng(seed), B, half))

    seq = [batch(64, 1), batch(64, 2), batch(64, 2), batch(48, 5), batch(64, 1)]
    seq.append(rng.random((32, len(names))))  # no structure: nothing to fold
    seq.append(batch(64, 7))
    for dt in (np.float64, np.float32):
        for S in seq:
            got = net.solve_batch(S, certify=False, dtype=dt).voltages
            fresh = Network(c).solve_batch(S, certify=False, dtype=dt).voltages
            assert np.array_equal(got, fresh)
    net.solve_batch(seq[1], certify=False)
    pat = net._fold_pattern
    assert pat is not None and pat.trusted  # the next batch of this structure checks it
    r = net.solve_batch(seq[2], certify=True)
    assert net._fold_pattern is pat and pat.trusted  # ... and took it
    assert r.certificate.ok.all()


def test_input_gemm_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The input GEMM: below GEMM_PARALLEL one BLAS call on one thread (threads=1 or
    not); above, its rows split over numba's threads (resbench.threads.split_matmul:
    each part one BLAS call on one thread, no BLAS thread left spinning); the same
    answers within round-off, the same sweeps."""
    import resbench.batch.network as network
    from resbench import threads as rthreads

    c = drn((60, 40, 8), seed=3, input_gain=1.0)  # 48 free rows: 2 parts
    names = export_paper_params(c).input_names
    net = Network(c, inputs=names)
    S = _values(_pixels(np.random.default_rng(8), 64, len(names) // 2))
    seen: list[list[int]] = []
    split: list[np.ndarray] = []
    real, real_rows = np.matmul, rthreads.matmul_rows

    def spy(x, y, out=None):
        seen.append([g() for g, _ in rthreads._blas_libs()])
        return real(x, y, out=out)

    def spy_rows(a, b, out, cuts):
        split.append(cuts.copy())
        return real_rows(a, b, out, cuts)

    monkeypatch.setattr(np, "matmul", spy)
    monkeypatch.setattr(rthreads, "matmul_rows", spy_rows)
    a = net.solve_batch(S, certify=False, threads=1)
    b = net.solve_batch(S, certify=False, threads=2)
    assert seen and all(set(n) == {1} for n in seen) and not split
    monkeypatch.setattr(network, "GEMM_PARALLEL", 0)  # every product "large"
    monkeypatch.setattr(network, "SERIAL_BELOW", 0)  # (and numba's threads on)
    d = net.solve_batch(S, certify=True, threads=2)
    if rthreads.numba_thread_count()[0]() >= 2:  # (numba's maximum: the cores)
        assert split and all(c[0] == 0 and c[-1] == 48 and c.size == 3 for c in split)
    for r in (b, d):
        scale = np.abs(a.voltages).max()
        assert np.max(np.abs(r.voltages - a.voltages)) <= 1e-12 * scale
        assert np.array_equal(r.sweeps, a.sweeps)
    assert d.certificate.ok.all()
