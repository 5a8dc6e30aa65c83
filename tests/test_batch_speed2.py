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


def _values(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x, -x], axis=1)  # a DRN's cat(x, -x)


def _full(S: np.ndarray):
    r = Network._probe_vector(S.shape[0])
    sign, keys, vmax = scan_columns(S, r, np.arange(S.shape[1]), True)
    ok, nz, group, first, SF = group_columns(S, sign, keys)
    assert ok
    return _FoldPattern.of(nz, group, first, sign), SF, vmax


def _check(pat: _FoldPattern, S: np.ndarray):
    r = Network._probe_vector(S.shape[0])
    return fold_check(S, r, np.arange(S.shape[1]), True, *pat.check)


def test_fold_check_accepts_its_own_grouping_with_the_same_products() -> None:
    rng = np.random.default_rng(0)
    S = _values(_pixels(rng, 40, 60))
    pat, SF, vmax = _full(S)
    ok, vm, ST = _check(pat, S)
    assert ok
    assert np.array_equal(vm, vmax)
    assert np.array_equal(ST, SF)
    # another batch of the same structure: the same grouping, accepted; its products
    # equal those of its own full grouping
    S2 = _values(_pixels(np.random.default_rng(1), 70, 60))
    pat2, SF2, vmax2 = _full(S2)
    assert pat2.key == pat.key
    ok, vm, ST = _check(pat, S2)
    assert ok and np.array_equal(vm, vmax2)
    assert np.array_equal(np.abs(ST), np.abs(SF2))


@pytest.mark.parametrize(
    "change",
    ["dark_pixel_lit", "neighbour_differs", "groups_equal", "group_dark", "nan", "inf"],
)
def test_fold_check_rejects_what_the_full_grouping_would_group_otherwise(change: str) -> None:
    rng = np.random.default_rng(2)
    x = _pixels(rng, 30, 60)
    pat, _, _ = _full(_values(x))
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
    else:
        y[5, 40:43] = np.inf
    S = _values(y)
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


def test_threads_one_sets_blas_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """threads=1 limits BLAS for the whole call: the input GEMM's own switch to one BLAS
    thread is skipped there (and still made without a limit); same answers."""
    import resbench.batch.network as network

    c = drn((60, 12, 4), seed=3, input_gain=1.0)
    names = export_paper_params(c).input_names
    net = Network(c, inputs=names)
    S = _values(_pixels(np.random.default_rng(8), 64, len(names) // 2))
    calls: list[int] = []
    real = network.blas_threads

    def counting(n: int):
        calls.append(n)
        return real(n)

    monkeypatch.setattr(network, "blas_threads", counting)
    a = net.solve_batch(S, certify=False, threads=1).voltages
    assert calls == []
    b = net.solve_batch(S, certify=False).voltages
    assert calls == [1]
    assert np.array_equal(a, b)
