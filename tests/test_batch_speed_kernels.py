"""The batch solver's faster kernels (issue 12 speed work) against plain references.

* hub rows: the sweeps add a hub row's terms from earlier nodes as those nodes are
  updated (push); the answer and sweep counts equal those of the plain pull sweeps;
* the fused input scan: signs, keys, row maxima and the finiteness it proves;
* the few-sample product over nonzero inputs, four columns per pass;
* the node-voltage assembly by kind of node, against the offset map applied directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from resbench.batch import Network
from resbench.batch import _kernels as bk
from resbench.batch.network import hub_rows
from resbench.generate import drn


def _drn_net(layers=(12, 40, 5), seed: int = 3) -> tuple[Network, list[str]]:
    c = drn(list(layers), seed=seed, bias=True)
    names = [n for n in c.vsources.names if n.startswith("vin")]
    return Network(c, inputs=names), names


def test_hub_rows_structure_follows_the_rows_own_order():
    # rows: 0: [1, 2]; 1: [0, 2]; 2: [0, 1] (a triangle); 3: [0, 1, 2] (a hub);
    # 4: [2, 0, 3] (earlier entries out of order: not a hub)
    deg = np.array([2, 2, 2, 3, 3], dtype=np.uint32)
    idx = np.array([1, 2, 0, 2, 0, 1, 0, 1, 2, 2, 0, 3], dtype=np.uint32)
    slot, early, push_ptr, push_slot, push_k = hub_rows(deg, idx, min_deg=3)
    assert slot.tolist() == [-1, -1, -1, 0, -1]
    assert early.tolist() == [0, 0, 0, 3, 0]
    # node j pushes into hub 0 with the entry index of its term in row 3 (entries 6, 7, 8)
    assert push_ptr.tolist() == [0, 1, 2, 3, 3, 3]
    assert push_slot.tolist() == [0, 0, 0]
    assert push_k.tolist() == [6, 7, 8]
    # nothing qualifies: empty push lists, every slot −1
    slot, early, push_ptr, push_slot, push_k = hub_rows(deg, idx, min_deg=4)
    assert (slot == -1).all() and not early.any() and not push_ptr.any() and push_k.size == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hub_sweeps_equal_pull_sweeps_bit_for_bit(dtype):
    """The output nodes of a DRN summed by push give the same sums in the same order."""
    net, _ = _drn_net()
    sw = net._sweep
    hubs = hub_rows(sw.deg, sw.idx, min_deg=8)
    assert (hubs[0] >= 0).sum() == 5  # the output rows
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (40, 6))
    S = np.concatenate([x, -x], axis=1)
    net._hubs = hub_rows(sw.deg, sw.idx, min_deg=10**9)  # none: plain pull sweeps
    ref = net.solve_batch(S, dtype=dtype, certify=False)
    net._hubs = hubs
    got = net.solve_batch(S, dtype=dtype, certify=False)
    assert np.array_equal(got.voltages, ref.voltages)
    assert np.array_equal(got.sweeps, ref.sweeps)
    assert (got.status == "converged").all()


def test_scan_columns_groups_signs_and_row_maxima():
    rng = np.random.default_rng(2)
    B = 150  # more than one block of rows
    a, b = rng.uniform(-1, 1, B), rng.uniform(0, 2, B)
    a[:7] = 0.0  # first nonzero value late in the column
    z = np.zeros(B)
    S = np.ascontiguousarray(np.stack([a, -a, b, z, a, 3 * b, -b], axis=1))
    r = np.sqrt(np.arange(2, B + 2, dtype=np.float64)) - 0.5
    sign, key, vmax = bk.scan_columns(S, r, np.arange(7), True)
    assert sign[3] == 0.0 and key[3] == 0.0  # a column of zeros
    assert np.all(np.abs(sign[[0, 1, 2, 4, 5, 6]]) == 1.0)
    for i, j in ((0, 1), (0, 4), (2, 6)):  # equal up to sign: equal keys, signs agree
        assert key[i] == key[j]
        assert np.array_equal(sign[i] * S[:, i], sign[j] * S[:, j])
    assert key[2] != key[5]
    assert np.array_equal(vmax, np.abs(S).max(axis=1))
    # a subset of voltage columns
    cols = np.array([2, 5], dtype=np.int64)
    _, _, vsub = bk.scan_columns(S, r, cols, False)
    assert np.array_equal(vsub, np.abs(S[:, cols]).max(axis=1))


def test_scan_columns_cancelling_key_takes_the_first_nonzero_sign():
    S = np.ascontiguousarray(np.array([[0.0, 2.0], [-1.0, 1.0], [1.0, 0.0]]))
    r = np.ones(3)  # column 0 sums to exactly 0
    sign, key, _ = bk.scan_columns(S, r, np.zeros(0, dtype=np.int64), False)
    assert sign.tolist() == [-1.0, 1.0] and key[0] == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_found_by_both_passes(bad):
    rng = np.random.default_rng(3)
    S = rng.uniform(-1, 1, (70, 9))
    assert bk.all_finite(S)
    r = np.sqrt(np.arange(2, 72, dtype=np.float64)) - 0.5
    assert np.isfinite(bk.scan_columns(S, r, np.arange(9), True)[1]).all()
    for pos in ((0, 0), (69, 8), (33, 4)):
        T = S.copy()
        T[pos] = bad
        assert not bk.all_finite(T)
        assert not np.isfinite(bk.scan_columns(T, r, np.arange(9), True)[1]).all()


def test_solve_batch_rejects_non_finite_values_on_the_fold_path():
    net, _ = _drn_net()
    S = np.ones((16, net.n_inputs))
    S[9, 3] = np.nan
    from resbench.errors import InputError

    with pytest.raises(InputError, match="sample 9"):
        net.solve_batch(S, certify=False)


def test_voltage_assembly_equals_the_offset_map():
    """Nodes of every kind (held by one input, by a chain of two, free with and without a
    moving offset) assemble to offset0 + M (s − s0) + u[supernode]."""
    from resbench import parse_netlist

    c = parse_netlist(
        "t\nv1 a 0 1\nv2 b a 2\nr1 b c 1k\nr2 c 0 2k\nv3 d c 0.5\nr3 d 0 3k\n"
        "r4 a e 1k\nr5 e 0 1k\n.end\n"
    )
    net = Network(c, inputs=["v1", "v2", "v3"])
    rng = np.random.default_rng(4)
    S = rng.uniform(-2, 2, (16, 3))
    res = net.solve_batch(S, certify=False)
    p = net._problem
    M = np.asarray(net._M.todense()) if hasattr(net._M, "todense") else net._M
    sn = p.supernode
    for b in range(S.shape[0]):
        offs = p.offset + M @ (S[b] - net._s0)
        u = np.zeros(c.n_nodes)
        free = sn >= 0
        # u of each free supernode, read back from any one of its nodes
        u_sn = np.zeros(p.n)
        u_sn[sn[free]] = res.voltages[b][free] - offs[free]
        u[free] = u_sn[sn[free]]
        np.testing.assert_allclose(res.voltages[b], offs + u, rtol=0, atol=1e-12)
    kinds = [a.size for a in net._voltage_plan]
    assert kinds[0] >= 1 and kinds[8] >= 1  # one-input nodes and multi-term nodes
