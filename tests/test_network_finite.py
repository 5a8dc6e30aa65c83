"""solve_batch leaves the NaN / inf check of a one-block batch to the fold's pass over
the values (one pass fewer) or makes it itself before any work: on every path the
error is the one check_values gives, naming the first such value and counting them."""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch import network as nw
from resbench.errors import InputError
from resbench.generate import drn
from resbench.netlist import read_netlist


def _expected(net: Network, S: np.ndarray) -> str:
    with pytest.raises(InputError) as info:
        net.check_values(S)
    return str(info.value)


@pytest.mark.parametrize("B", [1, 2, 3, 5, 16])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_drn_batch_names_its_first_non_finite_value(B: int, dtype, bad: float) -> None:
    net = Network(drn(preset="xs", seed=0))
    assert net._A_dense is not None and net._A_dense.shape[0] >= nw.FOLD_MIN_ROWS
    rng = np.random.default_rng(B)
    S = net.default_values() + rng.normal(scale=0.3, size=(B, net.n_inputs))
    S[B - 1, 7] = bad  # the last sample (copied into the padding of the chunks)
    S[B // 2, 3] = bad
    with pytest.raises(InputError) as info:
        net.solve_batch(S, dtype=dtype, certify=False)
    assert str(info.value) == _expected(net, S)
    assert "finite" in str(info.value)


@pytest.mark.parametrize(
    "name", ["divider.cir", "dc_diode_iv.cir", "floating_sources.cir", "diode_loop.cir"]
)
def test_small_circuits_name_their_first_non_finite_value(name: str) -> None:
    net = Network(read_netlist(f"netlists/{name}"))
    S = np.repeat(net.default_values()[None, :], 9, axis=0)
    S[4, -1] = np.nan
    with pytest.raises(InputError) as info:
        net.solve_batch(S)
    assert str(info.value) == _expected(net, S)


def test_several_blocks_are_checked_before_any_is_solved(monkeypatch) -> None:
    net = Network(read_netlist("netlists/divider.cir"))
    monkeypatch.setattr(nw, "BLOCK", 4)
    S = np.repeat(net.default_values()[None, :], 10, axis=0)
    S[9, 0] = np.inf
    done: list[int] = []
    with pytest.raises(InputError) as info:
        net.solve_batch(S, progress=lambda k, n: done.append(k))
    assert str(info.value) == _expected(net, S) and done == []


def test_the_fold_pass_replaces_the_separate_check(monkeypatch) -> None:
    """A batch that goes through the fold makes no separate pass (the point of the
    deferral); a one-sample solve (no fold) makes it."""
    net = Network(drn(preset="xs", seed=0))
    calls: list[int] = []
    real = Network._check_finite
    monkeypatch.setattr(Network, "_check_finite", lambda self, S: calls.append(1) or real(self, S))
    S = net.default_values() + np.zeros((16, net.n_inputs))
    net.solve_batch(S, certify=False)
    assert calls == []
    net.solve_batch(S[:1], certify=False)
    assert calls == [1]
