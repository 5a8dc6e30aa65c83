"""Many inputs through one network: set the network up once, solve batches.

    from resbench import read_netlist
    from resbench.batch import Network

    net = Network(read_netlist("drn_xs.cir"), inputs=["vin0", "vin1", ...])
    res = net.solve_batch(values)          # values[B, n_inputs] → res.voltages[B, n_nodes]
    sol = net.solve(values[0])             # one input, no setup: a Solution

Everything that changes between inputs is linear in the source values
(docs/design.md §9): the free-node injections and the diode bounds are sparse
(or dense) maps of the input values, built once; a batch is one matrix product
plus coordinate-descent sweeps vectorised over the batch.
"""

from __future__ import annotations

from resbench.batch.result import BatchCertificate, BatchResult

__all__ = ["BatchCertificate", "BatchResult", "Network"]


def __getattr__(name: str):
    if name == "Network":
        from resbench.batch.network import Network

        return Network
    raise AttributeError(f"module 'resbench.batch' has no attribute {name!r}")
